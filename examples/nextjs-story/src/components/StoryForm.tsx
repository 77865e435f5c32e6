'use client';
// The form of POST /api/story/generate; field errors from a 400 appear under their fields.
import { useRouter } from 'next/navigation';
import { useState } from 'react';

type Errors = Record<string, string>;

export function StoryForm() {
  const router = useRouter();
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = {
      topic: String(form.get('topic') ?? ''),
      author_style: String(form.get('author_style') ?? ''),
      // An empty field is sent as null, so the server can say it is empty (not "got 0").
      pages: String(form.get('pages') ?? '').trim() === '' ? null : Number(form.get('pages')),
      quality: Number(form.get('quality')),
      approve_outline: form.get('approve_outline') === 'on',
    };
    setBusy(true);
    setErrors({});
    try {
      const response = await fetch('/api/story/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      if (response.status === 201) {
        router.push(`/story/${data.sessionId}`);
        return;
      }
      if (response.status === 429) {
        // Over the user's limits: say when they can start again (the server's Retry-After).
        const at = new Date(data.retryAt ?? Date.now() + Number(response.headers.get('retry-after') ?? 60) * 1000);
        const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
        setErrors({ form: `${data.error}. You can start again at ${time}.` });
      } else {
        setErrors(data.errors ?? { form: data.error ?? `the server answered ${response.status}` });
      }
    } catch (e) {
      setErrors({ form: `could not reach the server: ${(e as Error).message}` });
    }
    setBusy(false);
  }

  const error = (field: string) =>
    errors[field] ? (
      <span className="field-error" data-error-for={field}>
        {field === 'form' ? errors[field] : `${field.replace('_', ' ')} ${errors[field]}`}
      </span>
    ) : null;

  return (
    <form className="story-form" onSubmit={submit} noValidate>
      <label>
        Topic
        <input name="topic" placeholder="a lighthouse keeper who befriends a storm" />
        {error('topic')}
      </label>
      <label>
        Author style
        <input name="author_style" placeholder="gentle, rhythmic, for bedtime" />
        {error('author_style')}
      </label>
      <label>
        Pages (1–20)
        <input name="pages" type="number" defaultValue={3} />
        {error('pages')}
      </label>
      <label>
        Quality: critique and revise rounds per page
        <select name="quality" defaultValue="1">
          <option value="0">0 — first draft only</option>
          <option value="1">1</option>
          <option value="2">2</option>
          <option value="3">3</option>
        </select>
        {error('quality')}
      </label>
      <label className="inline">
        <input name="approve_outline" type="checkbox" /> Let me approve or edit the outline before the pages are written
      </label>
      {error('approve_outline')}
      {error('form')}
      <div>
        <button type="submit" disabled={busy}>
          {busy ? 'Starting…' : 'Write the story'}
        </button>
      </div>
    </form>
  );
}
