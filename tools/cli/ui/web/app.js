// storyloom inspector: a runs list, a run page and a resources and limits page
// over the JSON API of `storyloom ui`, kept live with Server-Sent Events (runs)
// and polling (lists, limits). Plain DOM, no build step.
'use strict';

const state = { readOnly: true, source: null, listTimer: null };

// Nested arrays of children, flattened; null, undefined and false dropped.
function nodes(items) {
  return items.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
}

// h('td', {class: 'x'}, 'text', child): text is always set as text, never HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of nodes(children)) {
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new Error((body && body.error) || `HTTP ${res.status}`);
  return body;
}

function post(path, body) {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body || {}) });
}

function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 3500);
}

const time = (ms) => (ms ? new Date(ms).toLocaleString() : '');
const statusBadge = (s) => h('span', { class: `status ${s}`, 'data-testid': 'status' }, s);
const json = (v) => JSON.stringify(v, null, 2);

function stopLive() {
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.listTimer);
  state.listTimer = null;
}

// ---- confirmation dialog ----

// Shows the dialog; `fields` are extra inputs. Resolves with their values, or
// null when the user goes back. `run(values)` may throw: the error is shown
// and the dialog stays open.
function confirmAction(title, text, fields, run) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const box = document.getElementById('confirm-fields');
  const error = document.getElementById('confirm-error');
  box.replaceChildren(...fields.map((f) => h('label', {}, f.label, f.input)));
  error.textContent = '';
  const yes = document.getElementById('confirm-yes');
  return new Promise((resolve) => {
    const onYes = async (e) => {
      e.preventDefault();
      yes.disabled = true;
      try {
        const result = await run();
        dialog.close();
        cleanup();
        resolve(result);
      } catch (err) {
        error.textContent = err.message;
      } finally {
        yes.disabled = false;
      }
    };
    const onClose = () => { cleanup(); resolve(null); };
    function cleanup() {
      yes.removeEventListener('click', onYes);
      dialog.removeEventListener('close', onClose);
    }
    yes.addEventListener('click', onYes);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    (fields[0] ? fields[0].input : yes).focus();
  });
}

// ---- runs list ----

const STATUSES = ['', 'queued', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled'];
const CLASSES = ['', 'retryable', 'fatal', 'rate_limited', 'timeout'];

function listQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  return q.toString();
}

function toMs(local) { return local ? String(new Date(local).getTime()) : ''; }

async function renderList(main, params, deadLetter) {
  const cursors = params.cursors ? params.cursors.split(',') : [];
  const filters = { ...params };
  delete filters.cursors;
  if (deadLetter) filters.status = 'failed';
  const field = (name, label, input) => h('label', {}, label, input);
  const text = (name, placeholder) =>
    h('input', { name, value: params[name] || '', placeholder, 'data-testid': `filter-${name}` });
  const select = (name, options) => {
    const s = h('select', { name, 'data-testid': `filter-${name}` },
      options.map((o) => h('option', { value: o, selected: (params[name] || '') === o }, o || 'any')));
    return s;
  };
  const dt = (name) => h('input', { type: 'datetime-local', name, 'data-testid': `filter-${name}`,
    value: params[name] ? new Date(Number(params[name]) - new Date().getTimezoneOffset() * 60000)
      .toISOString().slice(0, 16) : '' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    field('q', 'Run id or idempotency key', text('q', 'search')),
    deadLetter ? null : field('status', 'Status', select('status', STATUSES)),
    field('workflow', 'Workflow', text('workflow', 'any')),
    field('owner', 'Owner', text('owner', 'any')),
    field('error_class', 'Error class', select('error_class', CLASSES)),
    field('finished_after', 'Finished after', dt('finished_after')),
    field('finished_before', 'Finished before', dt('finished_before')),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'apply-filters' }, 'Apply'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const next = {};
    for (const [k, v] of f.entries()) next[k] = k.startsWith('finished_') ? toMs(v) : v.trim();
    location.hash = `${deadLetter ? '#/dead-letter' : '#/'}?${listQuery(next)}`;
  });

  const table = h('table', { 'data-testid': 'runs' },
    h('thead', {}, h('tr', {}, ['Run', 'Status', 'Workflow', 'Owner', 'Priority', 'Created', 'Finished', 'Error']
      .map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody'));
  const pager = h('div', { class: 'pager' });
  const bulk = deadLetter && !state.readOnly
    ? h('button', { class: 'danger', 'data-testid': 'bulk-retry', onclick: () => bulkRetry(filters) },
      'Retry every matching failed run')
    : null;
  main.replaceChildren(...nodes([h('h1', {}, deadLetter ? 'Dead letters (failed runs)' : 'Runs'), form,
    bulk ? h('div', { class: 'actions' }, bulk) : null, table, pager]));

  async function load() {
    const q = { ...filters, limit: '50', cursor: cursors[cursors.length - 1] || '' };
    let page;
    try {
      page = await api(`/api/runs?${listQuery(q)}`);
    } catch (err) {
      table.tBodies[0].replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'error', role: 'alert' }, err.message)));
      return;
    }
    table.tBodies[0].replaceChildren(...page.runs.map((r) => h('tr', { 'data-run': r.id },
      h('td', { class: 'mono' }, h('a', { href: `#/runs/${encodeURIComponent(r.id)}` }, r.id)),
      h('td', {}, statusBadge(r.status)),
      h('td', {}, r.workflow), h('td', {}, r.owner), h('td', {}, r.priority),
      h('td', {}, time(r.created_at_ms)), h('td', {}, time(r.finished_at_ms)),
      h('td', { class: 'error' }, r.error ? `${r.error.class}: ${r.error.message}` : ''))));
    if (!page.runs.length) table.tBodies[0].append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs match.')));
    const base = deadLetter ? '#/dead-letter' : '#/';
    pager.replaceChildren(...nodes([
      cursors.length ? h('a', { href: `${base}?${listQuery({ ...params, cursors: cursors.slice(0, -1).join(',') })}`,
        'data-testid': 'prev-page' }, '← Previous page') : null,
      page.next_cursor ? h('a', { href: `${base}?${listQuery({ ...params, cursors: [...cursors, page.next_cursor].join(',') })}`,
        'data-testid': 'next-page' }, 'Next page →') : null,
      h('span', { class: 'muted' }, `${page.runs.length} shown · refreshes every 2 s`)]));
  }
  await load();
  state.listTimer = setInterval(load, 2000);
}

async function bulkRetry(filters) {
  const body = {};
  for (const k of ['workflow', 'owner', 'error_class']) if (filters[k]) body[k] = filters[k];
  for (const k of ['finished_after', 'finished_before']) if (filters[k]) body[k] = Number(filters[k]);
  const out = await confirmAction('Retry failed runs',
    'Queue again every failed run matching these filters? Their completed steps are kept.', [],
    () => post('/api/dead-letter/retry', body));
  if (out) toast(`Queued ${out.queued} failed run${out.queued === 1 ? '' : 's'} again`);
}

// ---- run page ----

function stepRows(snapshot, events) {
  // Attempts and errors per step, from step.retrying / step.failed events.
  const byName = new Map();
  for (const e of events) {
    if (!e.type.startsWith('step.') || !e.data || !e.data.name) continue;
    const s = byName.get(e.data.name) || { attempts: 0, errors: [], last: 0 };
    if (e.type === 'step.retrying' || e.type === 'step.failed') {
      s.attempts = Math.max(s.attempts, e.data.attempt || 0);
      s.errors.push(e.data.error);
    }
    s.last = e.created_at_ms;
    byName.set(e.data.name, s);
  }
  return snapshot.steps.map((st) => {
    const info = byName.get(st.name) || { attempts: 0, errors: [] };
    const attempts = st.status === 'completed' ? info.attempts + 1 : Math.max(info.attempts, 1);
    const err = info.errors[info.errors.length - 1];
    return h('tr', { 'data-step': st.name },
      h('td', {}, st.seq), h('td', { class: 'mono' }, st.name), h('td', {}, st.kind),
      h('td', {}, statusBadge(st.status)), h('td', {}, attempts), h('td', {}, time(st.completed_at_ms)),
      h('td', {}, st.status === 'completed'
        ? h('details', {}, h('summary', {}, 'result'), h('pre', { class: 'mono' }, json(st.result)))
        : err ? h('details', { open: true }, h('summary', { class: 'error' }, `${err.class}: ${err.message}`),
          h('pre', { class: 'mono' }, json(err))) : ''));
  });
}

function waitsOf(run, events) {
  if (run.status !== 'sleeping' && run.status !== 'waiting') return null;
  const last = [...events].reverse().find((e) => e.type === 'run.sleeping' || e.type === 'run.waiting');
  if (!last) return null;
  const d = last.data || {};
  return h('p', { 'data-testid': 'waits' }, run.status === 'waiting' ? 'Waiting for ' : 'Sleeping ',
    d.for ? h('span', { class: 'mono' }, JSON.stringify(d.for)) : '',
    d.until ? ` until ${time(d.until)}` : '');
}

async function renderRun(main, id) {
  let snapshot;
  let events = [];
  const streams = {};
  const streamEnd = {};  // byte offset where each stream's text shown ends
  const live = h('span', { class: 'live off', 'data-testid': 'live' }, 'connecting…');
  const body = h('div');
  main.replaceChildren(h('p', {}, h('a', { href: '#/' }, '← Runs')),
    h('h1', {}, 'Run ', h('span', { class: 'mono' }, id), live), body);

  async function loadSnapshot() {
    snapshot = await api(`/api/runs/${encodeURIComponent(id)}`);
    for (const [name, text] of Object.entries(snapshot.stream_text || {})) {
      streams[name] = text;
      streamEnd[name] = snapshot.streams[name] ? snapshot.streams[name].end : 0;
    }
  }
  async function loadEvents(after) {
    for (;;) {
      const page = await api(`/api/runs/${encodeURIComponent(id)}/events?after=${after}&limit=1000`);
      events.push(...page.events);
      if (page.events.length < 1000) return;
      after = page.events[page.events.length - 1].id;
    }
  }
  try {
    await loadSnapshot();
    await loadEvents(0);
  } catch (err) {
    body.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
    live.textContent = '';
    return;
  }
  const render = () => {
    const r = snapshot.run;
    const action = (label, name, enabled, cls, extra) => h('button', {
      class: cls, 'data-testid': `action-${name}`, disabled: state.readOnly || !enabled,
      title: state.readOnly ? 'read-only inspector' : undefined,
      onclick: () => runAction(id, label, name, extra ? extra() : [], snapshot, refresh) }, label);
    const finished = ['completed', 'failed', 'cancelled'].includes(r.status);
    body.replaceChildren(...nodes([
      h('dl', { class: 'meta' },
        h('dt', {}, 'Status'), h('dd', {}, statusBadge(r.status)),
        h('dt', {}, 'Workflow'), h('dd', {}, r.workflow),
        h('dt', {}, 'Owner'), h('dd', {}, r.owner || '—'),
        h('dt', {}, 'Idempotency key'), h('dd', { class: 'mono' }, r.idempotency_key || '—'),
        h('dt', {}, 'Priority'), h('dd', { 'data-testid': 'priority' }, r.priority),
        h('dt', {}, 'Parent'), h('dd', {}, r.parent_id ? h('a', { href: `#/runs/${encodeURIComponent(r.parent_id)}` }, r.parent_id) : '—'),
        h('dt', {}, 'Created'), h('dd', {}, time(r.created_at_ms)),
        h('dt', {}, 'Finished'), h('dd', {}, time(r.finished_at_ms) || '—'),
        h('dt', {}, 'Progress'), h('dd', { class: 'mono', 'data-testid': 'progress' }, r.progress === null ? '—' : JSON.stringify(r.progress))),
      h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Run actions' },
        action('Cancel', 'cancel', !finished, 'danger'),
        action('Retry', 'retry', r.status === 'failed'),
        action('Rewind to step…', 'rewind', r.status === 'completed' || r.status === 'failed', '', () => {
          const s = h('select', { name: 'step' }, snapshot.steps.map((st) => h('option', { value: st.name }, st.name)));
          return [{ label: 'Step', input: s, key: 'step' }];
        }),
        action('Signal…', 'signal', !finished, '', () => [
          { label: 'Signal name', input: h('input', { name: 'name', required: true }), key: 'name' },
          { label: 'JSON payload', input: h('textarea', { name: 'payload', rows: 4 }, '{}'), key: 'payload', json: true }]),
        action('Change priority…', 'priority', r.status === 'queued', '', () => [
          { label: 'Priority (higher starts first)', input: h('input', { name: 'priority', type: 'number', value: r.priority }), key: 'priority', number: true }])),
      waitsOf(r, events),
      r.output !== null ? [h('h2', {}, 'Output'), h('pre', { class: 'mono', 'data-testid': 'output' }, json(r.output))] : null,
      r.error ? [h('h2', {}, 'Error'), h('pre', { class: 'mono error', 'data-testid': 'run-error' }, json(r.error))] : null,
      h('h2', {}, 'Steps'),
      h('table', { 'data-testid': 'steps' }, h('thead', {}, h('tr', {},
        ['#', 'Step', 'Kind', 'Status', 'Attempts', 'Completed', 'Result / error'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, stepRows(snapshot, events))),
      snapshot.children.length ? [h('h2', {}, 'Child runs'), h('ul', {}, snapshot.children.map((c) =>
        h('li', {}, h('a', { href: `#/runs/${encodeURIComponent(c.id)}` }, c.id), ' ', c.workflow || '', ' ', c.status ? statusBadge(c.status) : '')))] : null,
      Object.keys(streams).length ? [h('h2', {}, 'LLM streams'), Object.entries(streams).map(([name, text]) =>
        [h('h3', { class: 'mono' }, name), h('pre', { class: 'stream', 'data-stream': name }, text)])] : null,
      snapshot.artifacts.length ? [h('h2', {}, 'Artifacts (latest versions)'), snapshot.artifacts.map((a) =>
        h('details', {}, h('summary', {}, `${a.key} v${a.version}`), h('pre', { class: 'mono' }, json(a.value))))] : null,
      h('h2', {}, 'Timeline'),
      h('table', { 'data-testid': 'timeline' }, h('thead', {}, h('tr', {}, ['Event', 'Time', 'Type', 'Step', 'Details']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, events.filter((e) => e.type !== 'chunk').map((e) => h('tr', {},
        h('td', {}, e.id), h('td', {}, time(e.created_at_ms)), h('td', { class: 'mono' }, e.type),
        h('td', { class: 'mono' }, (e.data && e.data.name) || ''),
        h('td', { class: 'mono' }, e.data && Object.keys(e.data).length ? JSON.stringify(e.data).slice(0, 300) : '')))))]));
  };
  let pending = null;
  async function refresh() {
    await loadSnapshot();
    render();
  }
  render();
  // Live: events after the snapshot's last id; the browser resumes with
  // Last-Event-ID after a drop. State changes reload the snapshot.
  const last = events.length ? events[events.length - 1].id : 0;
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/stream?after=${last}`);
  state.source = source;
  source.onopen = () => { live.textContent = '● live'; live.className = 'live'; };
  source.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live off'; };
  source.onmessage = () => {};
  const onEvent = (msg) => {
    let e;
    try { e = { id: Number(msg.lastEventId), type: msg.type, data: JSON.parse(msg.data), created_at_ms: Date.now() }; } catch { return; }
    if (events.length && e.id <= events[events.length - 1].id) return;
    if (e.type === 'chunk') {
      // Offsets are bytes: a chunk the last snapshot already holds is skipped.
      const s = e.data.stream;
      const bytes = new TextEncoder().encode(e.data.text);
      const end = streamEnd[s] || 0;
      if (e.data.offset + bytes.length > end) {
        const fresh = e.data.offset >= end ? bytes : bytes.slice(end - e.data.offset);
        streams[s] = (streams[s] || '') + new TextDecoder().decode(fresh);
        streamEnd[s] = e.data.offset + bytes.length;
      }
      const pre = body.querySelector(`pre[data-stream="${CSS.escape(s)}"]`);
      if (pre) { pre.textContent = streams[s]; return; }
    }
    events.push(e);
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch((err) => toast(err.message)), 100);
  };
  const TYPES = ['run.created', 'run.started', 'run.queued', 'run.resumed', 'run.recovered', 'run.released',
    'run.sleeping', 'run.waiting', 'run.completed', 'run.failed', 'run.cancelled', 'run.retried', 'run.rewound',
    'run.priority', 'step.completed', 'step.failed', 'step.retrying', 'progress', 'artifact', 'chunk', 'signal.received'];
  for (const t of TYPES) source.addEventListener(t, onEvent);
  source.onmessage = onEvent;  // events of custom types
}

async function runAction(id, label, name, fields, snapshot, refresh) {
  const text = {
    cancel: 'Cancel this run and its unfinished child runs? No further steps will start.',
    retry: 'Queue this failed run again? Completed steps are kept and not run again.',
    rewind: 'Forget the chosen step and every later one, and run them again?',
    signal: 'Send a signal with a JSON payload to this run?',
    priority: 'Change the priority of this queued run?',
  }[name];
  const out = await confirmAction(label.replace('…', ''), text, fields, () => {
    const body = {};
    for (const f of fields) {
      const v = f.input.value;
      if (f.json) {
        try { body[f.key] = JSON.parse(v || 'null'); } catch { throw new Error('The payload is not valid JSON'); }
      } else if (f.number) {
        if (!/^-?\d+$/.test(v.trim())) throw new Error('The priority must be a whole number');
        body[f.key] = Number(v);
      } else {
        body[f.key] = v;
      }
    }
    return post(`/api/runs/${encodeURIComponent(id)}/${name}`, body);
  });
  if (out) {
    toast(`${label.replace('…', '')}: done`);
    await refresh();
  }
}

// ---- resources and limits ----

// A table with a caption (its heading for screen readers) and one row per item.
function limitsTable(testid, caption, headers, rows, empty) {
  return h('table', { class: 'runs', 'data-testid': testid },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows
      : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty))));
}

const amount = (v, limit) => (v === null ? 'no limit' : `${Math.floor(v * 10) / 10} of ${limit}`);

function resourceRows(resources, now) {
  return resources.map((r) => {
    const l = r.limits;
    const size = l.burst > 0 ? l.burst : Math.max(l.requests, 1);
    const paused = r.paused_until_ms > now;
    return h('tr', { 'data-resource': r.name },
      h('td', { class: 'mono' }, r.name),
      h('td', { 'data-testid': 'requests' }, amount(r.available_requests, size),
        l.requests > 0 ? h('span', { class: 'muted' }, ` (${l.requests} per ${l.period_ms} ms)`) : null),
      h('td', {}, amount(r.available_tokens, l.tokens_per_minute)),
      h('td', { 'data-testid': 'in-flight' }, l.max_in_flight > 0 ? `${r.in_flight} of ${l.max_in_flight}` : String(r.in_flight)),
      h('td', { 'data-testid': 'pause' }, paused
        ? h('span', { class: 'status failed' }, `paused ${Math.ceil((r.paused_until_ms - now) / 1000)} s more`)
        : 'no'));
  });
}

async function renderLimits(main) {
  const body = h('div', { 'aria-live': 'polite' });
  main.replaceChildren(h('h1', {}, 'Resources and limits'),
    h('p', { class: 'muted' }, 'Shared by every engine on this store · refreshes every 2 s'), body);
  async function load() {
    let v;
    try {
      v = await api('/api/limits');
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
      return;
    }
    body.replaceChildren(
      limitsTable('resources', 'Resources', ['Resource', 'Requests available', 'Tokens available', 'In flight', 'Paused'],
        resourceRows(v.resources, v.now_ms), 'No resource has been used on this store.'),
      limitsTable('concurrency-keys', 'Busiest concurrency keys', ['Workflow', 'Key', 'Running', 'Queued', 'Limit'],
        v.concurrency_keys.map((k) => h('tr', {},
          h('td', {}, k.workflow), h('td', { class: 'mono' }, k.key), h('td', {}, k.running),
          h('td', {}, k.queued), h('td', {}, k.limit || 'unknown'))), 'No run holds a concurrency key.'),
      limitsTable('throttles', 'Throttle windows', ['Workflow', 'Key', 'Started', 'Limit', 'Period', 'Next start frees at'],
        v.throttles.map((t) => h('tr', {},
          h('td', {}, t.workflow), h('td', { class: 'mono' }, t.key), h('td', {}, t.started),
          h('td', {}, t.limit), h('td', {}, `${t.period_ms} ms`), h('td', {}, time(t.frees_at_ms)))),
        'No throttle window is in use.'));
  }
  await load();
  state.listTimer = setInterval(load, 2000);
}

// ---- routing ----

async function route() {
  stopLive();
  const main = document.getElementById('main');
  const [path, query] = location.hash.slice(1).split('?');
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  document.getElementById('nav-runs').removeAttribute('aria-current');
  document.getElementById('nav-dead').removeAttribute('aria-current');
  document.getElementById('nav-limits').removeAttribute('aria-current');
  if (path === '/limits') {
    document.getElementById('nav-limits').setAttribute('aria-current', 'page');
    await renderLimits(main);
  } else if (path && path.startsWith('/runs/')) {
    await renderRun(main, decodeURIComponent(path.slice('/runs/'.length)));
  } else if (path === '/dead-letter') {
    document.getElementById('nav-dead').setAttribute('aria-current', 'page');
    await renderList(main, params, true);
  } else {
    document.getElementById('nav-runs').setAttribute('aria-current', 'page');
    await renderList(main, params, false);
  }
}

document.addEventListener('keydown', (e) => {
  // "/" jumps to the search box, as in many consoles.
  if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
    const q = document.querySelector('[data-testid="filter-q"]');
    if (q) { e.preventDefault(); q.focus(); }
  }
});

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => {
  try {
    const info = await api('/api/info');
    state.readOnly = info.read_only;
  } catch (err) {
    toast(err.message);
  }
  document.getElementById('mode').textContent = state.readOnly ? 'read-only' : '';
  route();
});
