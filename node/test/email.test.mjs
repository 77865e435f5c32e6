// sendEmail against a fake SMTP server of our own on 127.0.0.1: both parts
// and the link arrive; a 4xx rejects as retryable, a 5xx as fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { InvalidArgumentError, StoryloomError, sendEmail } from 'storyloom';

async function smtp(refusals = []) {
  const messages = [];
  const server = createServer((socket) => {
    let buffer = '';
    let data = null;
    const reply = (line) => socket.write(`${line}\r\n`);
    reply('220 fake-smtp ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line === '.') {
            messages.push(data);
            data = null;
            reply('250 OK');
          } else data += line + '\n';
        } else if (/^MAIL FROM/i.test(line)) reply(refusals.shift() ?? '250 OK');
        else if (/^DATA/i.test(line)) {
          data = '';
          reply('354 go ahead');
        } else if (/^QUIT/i.test(line)) {
          reply('221 bye');
          socket.end();
        } else reply('250 OK');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `smtp://127.0.0.1:${server.address().port}`, messages, refusals, close: () => server.close() };
}

const message = {
  to: 'reader@example.com',
  subject: 'Your story is ready',
  text: 'It is written.',
  html: '<p>It is <b>written</b>.</p>',
  link: 'http://stories.test/story/r1',
};

test('sendEmail delivers both parts and the link', async (t) => {
  const server = await smtp();
  t.after(server.close);
  const result = await sendEmail(message, 'r1.ready@test', { url: server.url, from: 'stories@example.com' });
  assert.deepEqual(result, { accepted: true, smtpStatus: 250, messageId: '<r1.ready@test>' });
  assert.equal(server.messages.length, 1);
  assert.match(server.messages[0], /multipart\/alternative/);
  assert.match(server.messages[0], /Open your story: http:\/\/stories\.test\/story\/r1/);
});

test('an SMTP 4xx rejects as retryable, a 5xx as fatal, bad input names the field', async (t) => {
  const server = await smtp(['451 later', '550 no such user']);
  t.after(server.close);
  const options = { url: server.url, from: 'stories@example.com' };
  await assert.rejects(sendEmail(message, 'r1@test', options), (e) => e instanceof StoryloomError && e.errorClass === 'retryable' && /451/.test(e.message));
  await assert.rejects(sendEmail(message, 'r1@test', options), (e) => e instanceof StoryloomError && e.errorClass === 'fatal' && /550/.test(e.message));
  await assert.rejects(
    sendEmail(message, 'r1@test', { url: 'http://127.0.0.1:1', from: 'a@b.c' }),
    (e) => e instanceof InvalidArgumentError && e.message === 'SMTP_URL must start with smtp:// or smtps://',
  );
  assert.equal(server.messages.length, 0);
});
