// One story: its pages as they land (the live view) and once written (the reader), each
// page's picture as soon as its `artifact` event arrives, "no picture" with a button that
// draws that picture again, and the EPUB / PDF downloads once the story is finished.
// An SSE record's data is its event's data.
import { api, element } from '/static/api.js';

const id = decodeURIComponent(location.pathname.split('/').pop());
const $ = (name) => document.getElementById(name);
const pages = new Map(); // page number -> {text, picture, noPicture}
let events = null;
let finished = false;

function pageOf(key) {
  const m = /^page\/(\d+)(\/picture)?$/.exec(key);
  return m ? { n: Number(m[1]), picture: Boolean(m[2]) } : null;
}

function entry(n) {
  if (!pages.has(n)) pages.set(n, { text: '', picture: null, noPicture: false });
  return pages.get(n);
}

function render() {
  const root = $('pages');
  root.replaceChildren();
  for (const n of [...pages.keys()].sort((a, b) => a - b)) {
    const page = pages.get(n);
    const section = element('section', { class: 'page', id: `page-${n}` }, element('h2', {}, `Page ${n}`));
    if (page.picture) {
      section.append(element('img', { src: page.picture, alt: `Page ${n}'s picture` }));
    } else if (page.noPicture) {
      const retry = element('button', {}, 'Draw this picture again');
      retry.onclick = () => retryPicture(n, retry);
      section.append(element('p', { class: 'no-picture' }, 'no picture '), retry);
    }
    section.append(element('p', {}, page.text));
    root.append(section);
  }
  $('downloads').hidden = !finished;
}

// The live text of one chunk stream: only its current llm attempt's bytes, each once
// (the README's rule: a retried attempt replaces the text, never appends to it).
const stream = { name: '', start: 0, end: 0, bytes: new Uint8Array(0) };
const encoder = new TextEncoder();
function addChunk(data, streams) {
  if (data.stream !== stream.name) {
    const at = streams[data.stream]?.attempt_start ?? 0;
    Object.assign(stream, { name: data.stream, start: at, end: at, bytes: new Uint8Array(0) });
  }
  const chunk = encoder.encode(data.text || '');
  if (typeof data.attempt_start === 'number' && data.attempt_start > stream.start) {
    Object.assign(stream, { start: data.attempt_start, end: data.attempt_start, bytes: new Uint8Array(0) });
  }
  const offset = typeof data.offset === 'number' ? data.offset : stream.end;
  if (offset + chunk.length <= stream.end || offset < stream.start) return;
  const fresh = chunk.slice(Math.max(0, stream.end - offset));
  const joined = new Uint8Array(stream.bytes.length + fresh.length);
  joined.set(stream.bytes);
  joined.set(fresh, stream.bytes.length);
  stream.bytes = joined;
  stream.end = offset + chunk.length;
  $('live').hidden = false;
  $('stream').textContent = stream.name;
  $('stream-text').textContent = new TextDecoder().decode(stream.bytes);
}

async function load() {
  const s = await api('GET', `/api/story/${id}/status`);
  $('title').textContent = s.story?.title || s.outline?.title || s.topic;
  $('status').textContent = `${s.status}${s.stage ? ': ' + s.stage : ''}`;
  $('epub').href = `/api/story/${id}/book.epub`;
  $('pdf').href = `/api/story/${id}/book.pdf`;
  finished = Boolean(s.story);
  pages.clear();
  for (const p of s.pages) {
    const page = entry(p.page);
    page.text = p.content;
    // The version in the URL: a picture drawn again is fetched again.
    page.picture = p.picture ? `${p.picture.url}?v=${p.picture.version}` : null;
  }
  (s.story?.pictures || []).forEach((key, i) => {
    if (key === null) entry(i + 1).noPicture = true;
  });
  render();
  follow(s.last_event_id, s.streams || {});
}

function follow(after, streams) {
  if (events) events.close();
  events = new EventSource(`/api/events/${id}?lastEventId=${after}`);
  events.addEventListener('chunk', (e) => addChunk(JSON.parse(e.data), streams));
  events.addEventListener('progress', (e) => {
    const progress = JSON.parse(e.data);
    $('status').textContent = `running: ${progress.stage ?? ''}`;
  });
  events.addEventListener('artifact', (e) => {
    const a = JSON.parse(e.data); // {key, version, value, content_type (binary only)}
    const at = pageOf(a.key);
    if (!at) return;
    if (at.picture && a.content_type) {
      Object.assign(entry(at.n), { picture: `/api/story/${id}/pictures/${at.n}?v=${a.version}`, noPicture: false });
    } else if (!at.picture) {
      entry(at.n).text = a.value?.content ?? '';
    }
    render();
  });
  events.addEventListener('page.no_picture', (e) => {
    entry(JSON.parse(e.data).page).noPicture = true;
    render();
  });
  for (const end of ['run.completed', 'run.failed', 'run.cancelled']) {
    events.addEventListener(end, () => {
      events.close();
      $('live').hidden = true;
      load();
    });
  }
}

async function retryPicture(n, button) {
  button.disabled = true;
  try {
    await api('POST', `/api/story/${id}/pictures/${n}/retry`);
    await load(); // the run is queued again: follow it from its new events
  } catch (e) {
    $('status').textContent = e.message;
    button.disabled = false;
  }
}

load().catch((e) => ($('status').textContent = e.message));
