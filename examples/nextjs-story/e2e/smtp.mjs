// A fake SMTP server for the e2e tests: 127.0.0.1, a free port, plain text,
// every message received kept (dot-stuffing undone).
import { createServer } from 'node:net';

export async function startSmtp() {
  const messages = [];
  const server = createServer((socket) => {
    let buffer = '';
    let inData = false;
    let current = { from: '', to: [], data: '' };
    const reply = (line) => socket.write(`${line}\r\n`);
    reply('220 fake-smtp ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push(current);
            reply('250 OK queued');
          } else {
            current.data += (line.startsWith('..') ? line.slice(1) : line) + '\r\n';
          }
          continue;
        }
        const command = line.slice(0, 10).toUpperCase();
        if (command.startsWith('EHLO')) reply('250-fake-smtp\r\n250 8BITMIME');
        else if (command.startsWith('MAIL FROM:')) {
          current = { from: line.slice(10), to: [], data: '' };
          reply('250 OK');
        } else if (command.startsWith('RCPT TO:')) {
          current.to.push(line.slice(8));
          reply('250 OK');
        } else if (command.startsWith('DATA')) {
          inData = true;
          reply('354 go ahead');
        } else if (command.startsWith('QUIT')) {
          reply('221 bye');
          socket.end();
        } else reply('250 OK');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `smtp://127.0.0.1:${server.address().port}`, messages, close: () => server.close() };
}
