// nodemailer against posthorn's submission ports: STARTTLS required on
// 587 and implicit TLS on 465, AUTH, the self-signed certificate as CA.
// usage: node submit.js CONFIG_JSON; prints the results as JSON.
'use strict';
const fs = require('fs');
const nodemailer = require('nodemailer');

async function main() {
  const c = JSON.parse(process.argv[2]);
  const ca = fs.readFileSync(c.cert);
  const common = {
    host: '127.0.0.1',
    name: 'node.client.example',
    auth: { user: c.user, pass: c.pass },
    tls: { ca: [ca], servername: c.servername },
  };
  const out = {};
  const starttls = nodemailer.createTransport({ ...common, port: c.submission, secure: false, requireTLS: true });
  await starttls.verify();
  let info = await starttls.sendMail({
    from: `Node Sender <${c.user}>`,
    to: c.to,
    subject: 'nodemailer requireTLS',
    text: 'Hello from nodemailer\nsecond line\n',
    headers: { 'User-Agent': 'NodeSecretAgent/1' },
  });
  out.starttls = { response: info.response, accepted: info.accepted, messageId: info.messageId };
  info = await starttls.sendMail({ envelope: { from: c.user, to: [c.to] }, raw: c.raw });
  out.raw = { response: info.response, accepted: info.accepted };
  const implicit = nodemailer.createTransport({ ...common, port: c.submissions, secure: true, authMethod: 'LOGIN' });
  info = await implicit.sendMail({ from: c.user, to: c.to, subject: 'nodemailer implicit TLS', text: 'over 465\n' });
  out.implicit = { response: info.response, accepted: info.accepted };
  // A wrong password is refused.
  const bad = nodemailer.createTransport({ ...common, port: c.submission, requireTLS: true, auth: { user: c.user, pass: 'wrong' } });
  try {
    await bad.verify();
    out.bad = 'accepted';
  } catch (e) {
    out.bad = { code: e.code, responseCode: e.responseCode, response: e.response };
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
