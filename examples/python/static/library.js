// The library: sign in, start a story, and the user's stories with a cover thumbnail
// (the first page's picture; a story without one yet shows none).
import { api, element } from '/static/api.js';

const message = document.getElementById('message');
const account = document.getElementById('account');
const start = document.getElementById('start');

async function showLibrary() {
  let page;
  try {
    page = await api('GET', '/api/stories?limit=100');
  } catch (e) {
    if (e.status === 401) {
      account.hidden = false;
      return;
    }
    throw e;
  }
  account.hidden = true;
  start.hidden = false;
  const list = document.getElementById('library');
  list.replaceChildren();
  for (const s of page.stories) {
    const cover = element('img', { src: s.cover_url, alt: '', class: 'cover', loading: 'lazy' });
    cover.onerror = () => cover.remove();
    const link = element('a', { href: `/story/${s.id}` }, s.topic || s.id);
    list.append(element('li', {}, cover, link, ` (${s.status})`));
  }
}

account.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(account);
  const action = event.submitter?.name === 'signup' ? 'signup' : 'signin';
  try {
    await api('POST', `/api/auth/${action}`, {
      username: form.get('username'),
      password: form.get('password'),
    });
    message.textContent = '';
    await showLibrary();
  } catch (e) {
    message.textContent = e.message;
  }
});

start.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(start);
  try {
    const run = await api('POST', '/api/story/generate', {
      topic: form.get('topic'),
      author_style: form.get('author_style') || 'plain',
      pages: Number(form.get('pages')),
      quality: Number(form.get('quality')),
    });
    location.href = `/story/${run.id}`;
  } catch (e) {
    message.textContent = e.message;
  }
});

showLibrary().catch((e) => (message.textContent = e.message));
