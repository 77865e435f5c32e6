'use client';
// Sign-in and sign-up form: posts {username, password} to /api/auth/<mode>
// and goes on to `next` (a path of this site) once signed in.
import { useRouter } from 'next/navigation';
import { useState } from 'react';

export function AuthForm({ mode, next }: { mode: 'signin' | 'signup'; next: string }) {
  const router = useRouter();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setErrors({});
    try {
      const response = await fetch(`/api/auth/${mode}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') }),
      });
      const data = await response.json();
      if (response.ok) {
        // Only a path of this site: never an address someone put in the link.
        router.push(next.startsWith('/') && !next.startsWith('//') ? next : '/');
        router.refresh();
        return;
      }
      setErrors(data.errors ?? { form: data.error ?? `the server answered ${response.status}` });
    } catch (e) {
      setErrors({ form: `could not reach the server: ${(e as Error).message}` });
    }
    setBusy(false);
  }

  const error = (field: string, label: string) =>
    errors[field] ? (
      <span className="field-error" data-error-for={field}>
        {label} {errors[field]}
      </span>
    ) : null;

  return (
    <form className="story-form" onSubmit={submit} noValidate data-testid={`${mode}-form`}>
      <label>
        User name
        <input name="username" autoComplete="username" />
        {error('username', 'User name')}
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete={mode === 'signup' ? 'new-password' : 'current-password'} />
        {error('password', 'Password')}
      </label>
      {error('form', '')}
      <button type="submit" disabled={busy}>
        {mode === 'signup' ? 'Create account' : 'Sign in'}
      </button>
    </form>
  );
}
