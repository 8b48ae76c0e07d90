// imapflow against posthorn's IMAPS port: CONDSTORE/QRESYNC
// resynchronisation, messageMove, IDLE.
// usage: node imap_resync.js CONFIG_JSON
//   {host, port, user, pass, cert, smtpPort}
// 1. session A opens INBOX with QRESYNC and saves UIDVALIDITY and
//    HIGHESTMODSEQ, then logs out;
// 2. session B flags UID 2, unflags \Seen on UID 1, deletes UID 4 and moves
//    UID 5 to Archive (messageMove);
// 3. session C reopens INBOX with the saved state: imapflow must report
//    exactly those changes (VANISHED (EARLIER) 4,5; FETCH FLAGS for 1, 2);
// 4. C idles; a message is delivered over SMTP (raw, by this script) and
//    the 'exists' event must come within a second.
// Prints the results as JSON.
'use strict';
const fs = require('fs');
const net = require('net');
const { ImapFlow } = require('imapflow');

function client(c, events) {
  const f = new ImapFlow({
    host: c.host,
    port: c.port,
    secure: true,
    auth: { user: c.user, pass: c.pass },
    tls: { ca: [fs.readFileSync(c.cert)], servername: 'localhost' },
    qresync: true,
    logger: false,
  });
  if (events) {
    f.on('expunge', (e) => events.push({ type: 'expunge', uid: e.uid, seq: e.seq, vanished: e.vanished, earlier: e.earlier }));
    f.on('flags', (e) => events.push({ type: 'flags', uid: e.uid, flags: [...e.flags].sort() }));
    f.on('exists', (e) => events.push({ type: 'exists', count: e.count, prevCount: e.prevCount, at: Date.now() }));
  }
  return f;
}

// smtpSend delivers one message over plaintext SMTP, without a library.
function smtpSend(port, host, rcpt, msg) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    const steps = ['EHLO node.example.org', 'MAIL FROM:<alice@example.org>', `RCPT TO:<${rcpt}>`, 'DATA', msg + '\r\n.', 'QUIT'];
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      buf += d;
      // One reply per step; a multiline reply ends with "NNN ".
      while (/^\d{3} .*\r\n/m.test(buf)) {
        const m = buf.match(/^(\d{3}) .*\r\n/m);
        const code = m[1];
        buf = buf.slice(m.index + m[0].length);
        if (code[0] !== '2' && code[0] !== '3') {
          reject(new Error('SMTP: ' + m[0]));
          s.destroy();
          return;
        }
        const next = steps.shift();
        if (next === undefined) {
          s.end();
          resolve();
          return;
        }
        s.write(next + '\r\n');
      }
    });
    s.on('error', reject);
  });
}

async function main() {
  const c = JSON.parse(process.argv[2]);
  const out = {};

  const a = client(c);
  await a.connect();
  out.enabled = [...a.enabled].sort();
  const mbA = await a.mailboxOpen('INBOX');
  out.before = { exists: mbA.exists, uidValidity: String(mbA.uidValidity), highestModseq: String(mbA.highestModseq) };
  await a.logout();

  const b = client(c);
  await b.connect();
  await b.mailboxOpen('INBOX');
  await b.messageFlagsAdd('2', ['\\Flagged'], { uid: true });
  await b.messageFlagsRemove('1', ['\\Seen'], { uid: true });
  await b.messageDelete('4', { uid: true });
  const moved = await b.messageMove('5', 'Archive', { uid: true });
  out.move = { destination: moved.destination, uidMap: moved.uidMap ? [...moved.uidMap.entries()] : null };
  await b.logout();

  const events = [];
  const r = client(c, events);
  await r.connect();
  const mbR = await r.mailboxOpen('INBOX', { uidValidity: BigInt(out.before.uidValidity), changedSince: BigInt(out.before.highestModseq) });
  out.after = { exists: mbR.exists, qresync: !!mbR.qresync, highestModseq: String(mbR.highestModseq) };
  out.resyncEvents = events.splice(0);

  // IDLE until the next command; give the server a moment to answer "+".
  const idling = r.idle();
  await new Promise((res) => setTimeout(res, 300));
  const sent = Date.now();
  await smtpSend(c.smtpPort, c.host, c.user,
    'From: alice@example.org\r\nTo: ' + c.user + '\r\nSubject: imapflow idle\r\nMessage-ID: <idle.node@example.org>\r\n\r\nwake up\r\n');
  const acked = Date.now();
  const deadline = Date.now() + 5000;
  while (!events.some((e) => e.type === 'exists') && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 10));
  }
  const ex = events.find((e) => e.type === 'exists');
  out.idle = ex ? { count: ex.count, prevCount: ex.prevCount, afterAckMs: ex.at - acked, afterSendMs: ex.at - sent } : null;
  await r.logout();
  await idling.catch(() => {});
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
