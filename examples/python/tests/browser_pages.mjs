// Drives the service's pages in headless Chromium through its DevTools protocol (Node's
// WebSocket, --experimental-websocket on Node 20) and prints what it saw as JSON, for
// test_pages_browser.py to check.
//   node --experimental-websocket browser_pages.mjs DEVTOOLS_PORT BASE_URL SESSION STORY_ID
const [devtools, base, session, storyId] = process.argv.slice(2);
const targets = await (await fetch(`http://127.0.0.1:${devtools}/json/list`)).json();
const ws = new WebSocket(targets.find((t) => t.type === 'page').webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let nextId = 0;
const replies = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (replies.has(msg.id)) replies.get(msg.id)(msg);
};
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = ++nextId;
    replies.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
const evaluate = async (expression) =>
  (await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })).result
    .result.value;
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const state = async () =>
  JSON.parse(
    await evaluate(`JSON.stringify({
      status: document.getElementById('status')?.textContent ?? '',
      pages: document.querySelectorAll('.page').length,
      pictures: [...document.querySelectorAll('.page img')].map((i) => i.complete ? i.naturalWidth : -1),
      noPicture: document.querySelectorAll('.no-picture').length,
      downloads: document.getElementById('downloads') ? !document.getElementById('downloads').hidden : false,
    })`),
  );
async function until(done, ms) {
  const seen = [];
  for (const end = Date.now() + ms; Date.now() < end; await wait(100)) {
    const s = await state();
    if (JSON.stringify(s) !== JSON.stringify(seen.at(-1))) seen.push(s);
    if (done(s)) break;
  }
  return seen;
}

const out = {};
await send('Network.enable');
await send('Network.setCookie', { name: 'story_session', value: session, url: base });
// The finished story whose first picture was lost: "no picture", then its retry.
await send('Page.navigate', { url: `${base}/story/${storyId}` });
out.before = (await until((s) => s.noPicture === 1 && s.downloads, 15000)).at(-1);
await evaluate(`document.querySelector('.page button').click(), true`);
out.after = (
  await until((s) => s.noPicture === 0 && s.pictures.length === 3 && s.pictures.every((w) => w > 0), 30000)
).at(-1);
// A new story started from the library's form, followed live.
await send('Page.navigate', { url: `${base}/` });
await until(() => false, 1000);
await evaluate(`(() => { const f = document.getElementById('start'); f.topic.value = 'an owl at sea';
  f.pages.value = 2; f.quality.value = 0; f.requestSubmit(); return true; })()`);
out.live = await until((s) => s.status.startsWith('completed') && s.pictures.every((w) => w > 0) && s.pictures.length === 2, 60000);
await send('Page.navigate', { url: `${base}/` });
await until(() => false, 1500);
out.covers = await evaluate(`[...document.querySelectorAll('img.cover')].map((i) => i.complete ? i.naturalWidth : -1)`);
console.log(JSON.stringify(out));
ws.close();
