// Webhooks from Node: signing and verifying (Standard Webhooks), outbound
// deliveries to a receiver of our own on 127.0.0.1 with their log, and
// inbound webhooks that start a run once per webhook id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { InvalidArgumentError, signWebhook, verifyWebhook } from 'storyloom';
import { openEngine } from '../test-support/helpers.mjs';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

test('signWebhook matches the Standard Webhooks example; verifyWebhook names what is wrong', () => {
  const body = '{"test": 2432232314}';
  const signature = signWebhook(SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body);
  assert.equal(signature, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  const headers = {
    'Webhook-Id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': signature,
  };
  assert.deepEqual(verifyWebhook(SECRET, headers, body, { nowS: 1614265330 }), { status: 200, message: '' });
  assert.equal(verifyWebhook(SECRET, headers, body + ' ', { nowS: 1614265330 }).status, 401);
  assert.deepEqual(verifyWebhook(SECRET, headers, body, { nowS: 1614265330 + 301 }), {
    status: 400,
    message: 'the webhook-timestamp is outside the accepted window of 300 seconds',
  });
  // A fetch Headers object works the same.
  assert.equal(verifyWebhook(SECRET, new Headers(headers), Buffer.from(body), { nowS: 1614265330 }).status, 200);
  assert.throws(() => signWebhook('short', 'id', 1, ''), (e) => e instanceof InvalidArgumentError && /shorter than 16 bytes/.test(e.message));
});

function receiver(statuses) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.writeHead(statuses[requests.length - 1] ?? 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}/hook`, requests, close: () => server.close() }),
    ),
  );
}

async function waitFor(f, what) {
  for (let i = 0; i < 500; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a failed delivery is retried, logged and signed; the log shows every attempt', async (t) => {
  const hook = await receiver([500]);
  t.after(hook.close);
  const engine = await openEngine(t);
  engine.workflow('story', async () => 'the end');
  await engine.configureWebhooks({
    subscriptions: [{ id: 'orders', url: hook.url, secret: SECRET, events: ['run.completed'] }],
    initialBackoffMs: 10,
    maxBackoffMs: 10,
  });
  engine.launch();
  const run = await engine.start('story', {});
  const log = await waitFor(async () => {
    const l = await engine.webhookLog('orders');
    return l.length === 1 && l[0].state === 'delivered' ? l : null;
  }, 'the delivery');
  assert.equal(log[0].sourceRunId, run.id);
  assert.equal(log[0].eventType, 'run.completed');
  assert.deepEqual(log[0].attempts.map((a) => [a.status, a.error]), [
    [500, 'the receiver answered HTTP 500'],
    [200, null],
  ]);
  assert.equal(hook.requests.length, 2);
  const last = hook.requests[1];
  assert.equal(last.headers['webhook-id'], log[0].webhookId);
  assert.equal(verifyWebhook(SECRET, last.headers, last.body).status, 200);
  assert.deepEqual(JSON.parse(last.body).data.event, { output: 'the end' });
});

test('configureWebhooks refuses bad options naming the field', async (t) => {
  const engine = await openEngine(t);
  await assert.rejects(
    engine.configureWebhooks({ subscriptions: [{ id: 'x', url: 'ftp://h/', secret: SECRET }] }),
    (e) => e instanceof InvalidArgumentError && e.message === "webhook subscription 'x' url must start with http:// or https://",
  );
  await assert.rejects(
    engine.configureWebhooks({ subscriptions: [{ id: 'x', url: 'http://h/', secret: SECRET, colour: 1 }] }),
    (e) =>
      e instanceof InvalidArgumentError &&
      e.message === "engine.configureWebhooks: subscriptions[0] has an unknown key 'colour' (known: id, url, secret, workflows, events)",
  );
});

test('receiveWebhook starts one run per webhook id and refuses bad signatures and stale timestamps', async (t) => {
  const engine = await openEngine(t);
  engine.workflow('import', async (ctx, input) => input);
  engine.launch();
  const body = JSON.stringify({ book: 'moby' });
  const now = Math.floor(Date.now() / 1000);
  const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': signWebhook(SECRET, 'msg_1', now, body) };
  const hook = { secret: SECRET, workflow: 'import' };
  const first = await engine.receiveWebhook(hook, headers, body);
  assert.equal(first.status, 200, first.message);
  assert.equal(first.duplicate, false);
  const again = await engine.receiveWebhook(hook, headers, body);
  assert.equal(again.duplicate, true);
  assert.equal(again.run.id, first.run.id);
  assert.equal((await engine.list({ workflow: 'import' })).runs.length, 1);

  const forged = await engine.receiveWebhook(hook, { ...headers, 'webhook-id': 'msg_2' }, body);
  assert.deepEqual([forged.status, forged.run], [401, null]);
  const old = now - 3600;
  const stale = await engine.receiveWebhook(
    hook,
    { 'webhook-id': 'msg_3', 'webhook-timestamp': String(old), 'webhook-signature': signWebhook(SECRET, 'msg_3', old, body) },
    body,
  );
  assert.equal(stale.status, 400);
  assert.equal((await engine.list({ workflow: 'import' })).runs.length, 1);
});
