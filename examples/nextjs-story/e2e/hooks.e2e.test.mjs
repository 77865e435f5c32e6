// Webhooks and notifications of the app against `next start`: signed inbound
// webhooks start and approve stories (401 for a bad signature, 400 for a
// stale timestamp, a replay changes nothing), the app's outbound webhook
// reaches a receiver of our own on 127.0.0.1 with a signature we check with
// node:crypto, and a background tab gets the "story ready" notification in
// Chromium with notification permission granted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { signUp } from './auth.mjs';
import { startBrowser, startServer } from './server.mjs';
import { startSmtp } from './smtp.mjs';

const INBOUND_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OUTBOUND_SECRET = 'an-outbound-secret-of-ours-1234';
// The account inbound webhooks act as (its stories, its limits).
const WEBHOOK_USER = 'hooks-bot';

let server;
let browser;
const received = [];
let receiver;
let smtp;
let cookie; // WEBHOOK_USER's session, for reading its stories

function hmac(key, id, timestamp, body) {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** A request signed per Standard Webhooks (by node:crypto, not by storyloom). */
function signed(id, body, { timestamp = Math.floor(Date.now() / 1000), secret = INBOUND_SECRET } = {}) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': `v1,${hmac(key, id, timestamp, body)}`,
    },
    body,
  };
}

async function post(path, init) {
  const response = await fetch(`${server.base}${path}`, init);
  return { status: response.status, body: await response.json() };
}

async function waitFor(f, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function status(id) {
  return (await (await fetch(`${server.base}/api/story/${id}/status`, { headers: { cookie } })).json());
}

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  smtp = await startSmtp();
  server = await startServer({
    wordDelayMs: 5,
    env: {
      STORYLOOM_INBOUND_WEBHOOK_SECRET: INBOUND_SECRET,
      STORYLOOM_INBOUND_WEBHOOK_USER: WEBHOOK_USER,
      STORYLOOM_WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/story-events`,
      STORYLOOM_WEBHOOK_SECRET: OUTBOUND_SECRET,
      SMTP_URL: smtp.url,
      SMTP_FROM: 'Stories <stories@example.com>',
      STORY_EMAIL_TO: 'reader@example.com',
      STORY_PUBLIC_URL: 'http://stories.test',
    },
  });
  browser = await startBrowser();
  const page = await browser.context.newPage();
  cookie = await signUp(page, server.base, WEBHOOK_USER);
  await page.close();
});

after(async () => {
  await browser?.stop();
  await server?.stop();
  receiver?.close();
  smtp?.close();
});

test('a signed webhook starts a story once; bad signatures and stale timestamps start nothing', async () => {
  const body = JSON.stringify({ topic: 'a lighthouse keeper', pages: 1, quality: 0 });
  const first = await post('/api/hooks/stories', signed('msg_start_1', body));
  assert.equal(first.status, 202, JSON.stringify(first.body));
  const replay = await post('/api/hooks/stories', signed('msg_start_1', body));
  assert.equal(replay.status, 202);
  assert.equal(replay.body.sessionId, first.body.sessionId);

  const forged = await post('/api/hooks/stories', signed('msg_start_2', body, { secret: 'whsec_' + Buffer.from('not the right key!!').toString('base64') }));
  assert.deepEqual(forged, { status: 401, body: { error: 'no webhook signature matches' } });
  const stale = await post('/api/hooks/stories', signed('msg_start_3', body, { timestamp: Math.floor(Date.now() / 1000) - 3600 }));
  assert.equal(stale.status, 400);
  assert.match(stale.body.error, /outside the accepted window/);
  const unsigned = await post('/api/hooks/stories', { method: 'POST', body });
  assert.deepEqual(unsigned, { status: 400, body: { error: 'the webhook-id header is missing' } });
  const badInput = await post('/api/hooks/stories', signed('msg_start_4', JSON.stringify({ pages: 1 })));
  assert.equal(badInput.status, 400);
  assert.ok(badInput.body.errors.topic);

  const { stories } = await (await fetch(`${server.base}/api/stories`, { headers: { cookie } })).json();
  const ours = stories.filter((s) => s.topic === 'a lighthouse keeper');
  assert.equal(ours.length, 1, 'one story for the webhook, however often it was delivered');

  // The app's own outbound webhook tells the receiver the story is done.
  const id = first.body.sessionId;
  const message = await waitFor(
    () => received.find((r) => JSON.parse(r.body).type === 'run.completed' && JSON.parse(r.body).data.run_id === id),
    'the run.completed webhook',
  );
  const { headers } = message;
  assert.equal(headers['webhook-signature'], `v1,${hmac(OUTBOUND_SECRET, headers['webhook-id'], headers['webhook-timestamp'], message.body)}`);

  // And "your story is ready" went out by email, once, with the link.
  const mails = smtp.messages.filter((m) => m.data.includes(`http://stories.test/story/${id}\r\n`));
  assert.equal(mails.length, 1, smtp.messages.map((m) => m.data).join('\n----\n'));
  assert.deepEqual(mails[0].to, ['<reader@example.com>']);
  assert.match(mails[0].data, /Subject: Your story is ready: /);
  assert.match(mails[0].data, /multipart\/alternative/);
});

test('a signed webhook approves an outline once', async () => {
  const body = JSON.stringify({ topic: 'a clockwork fox', pages: 1, quality: 0, approve_outline: true });
  const started = await post('/api/hooks/stories', signed('msg_start_fox', body));
  const id = started.body.sessionId;
  await waitFor(async () => (await status(id)).status === 'waiting', 'the outline approval');
  const approve = await post(`/api/hooks/story/${id}/approve`, signed('msg_approve_fox', '{}'));
  assert.deepEqual(approve, { status: 200, body: { sessionId: id, duplicate: false } });
  const again = await post(`/api/hooks/story/${id}/approve`, signed('msg_approve_fox', '{}'));
  assert.deepEqual(again, { status: 200, body: { sessionId: id, duplicate: true } });
  const forged = await post(`/api/hooks/story/${id}/approve`, { ...signed('msg_approve_x', '{}'), body: '{ }' });
  assert.equal(forged.status, 401);
  await waitFor(async () => (await status(id)).status === 'completed', 'the approved story to finish');
  // The receiver heard that the story waited for approval, then that it finished.
  await waitFor(() => received.some((r) => JSON.parse(r.body).data.run_id === id && JSON.parse(r.body).type === 'run.completed'), 'completion message');
  const types = received.filter((r) => JSON.parse(r.body).data.run_id === id).map((r) => JSON.parse(r.body).type);
  assert.ok(types.includes('run.waiting'), types.join());
});

test('a background tab gets the "story ready" notification', async () => {
  const { context } = browser;
  await context.grantPermissions(['notifications'], { origin: server.base });
  // Records each notification the page shows (and still shows it). Headless
  // Chromium reports every tab as visible, so the test sends the story tab
  // to the background through the Page Visibility API (window.__hide()).
  await context.addInitScript(() => {
    let hidden = false;
    Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { get: () => hidden });
    window.__hide = () => {
      hidden = true;
      document.dispatchEvent(new Event('visibilitychange'));
    };
    const Original = window.Notification;
    window.__notifications = [];
    class Recording extends Original {
      constructor(title, options) {
        super(title, options);
        window.__notifications.push({ title, body: options?.body ?? '' });
      }
    }
    Object.defineProperty(Recording, 'permission', { get: () => Original.permission });
    Recording.requestPermission = Original.requestPermission.bind(Original);
    window.Notification = Recording;
  });
  // A slow story, so the tab is in the background well before it finishes.
  const created = await post('/api/story/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.base, cookie },
    body: JSON.stringify({ topic: 'a patient snail', pages: 2, quality: 1 }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.sessionId;
  const storyTab = await context.newPage();
  await storyTab.goto(`${server.base}/story/${id}`);
  await storyTab.getByTestId('notifications-on').waitFor();
  const otherTab = await context.newPage();
  await otherTab.goto(`${server.base}/`);
  await otherTab.bringToFront();
  await storyTab.evaluate(() => window.__hide());
  await waitFor(async () => (await status(id)).status === 'completed', 'the story to finish', 60000);
  const notes = await waitFor(async () => {
    const n = await storyTab.evaluate(() => window.__notifications);
    return n.length > 0 ? n : null;
  }, 'the notification', 10000);
  assert.equal(notes[0].title, 'Your story is ready');
  assert.match(notes[0].body, /a patient snail/);
  await storyTab.close();
  await otherTab.close();
});
