'use client';
// Browser notifications for one story: with the reader's permission, a
// notification when the story is ready, fails, or waits for outline approval
// while its tab is in the background (a visible tab shows it already). It
// follows only the run's status events, on a stream of its own, so the live
// view is untouched.
import { useEffect, useState } from 'react';

type Permission = NotificationPermission | 'unsupported';

const MESSAGES: Record<string, { title: string; body: (title: string) => string }> = {
  'run.completed': { title: 'Your story is ready', body: (t) => `“${t}” is written: open it to read.` },
  'run.failed': { title: 'Your story could not be finished', body: (t) => `“${t}” stopped with an error.` },
  'run.waiting': { title: 'Your outline needs approval', body: (t) => `“${t}” waits for you to approve its outline.` },
};

function currentPermission(): Permission {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

export function StoryNotifications({ id, title, after, finished }: { id: string; title: string; after: number; finished: boolean }) {
  const [permission, setPermission] = useState<Permission>('default');
  useEffect(() => setPermission(currentPermission()), []);

  useEffect(() => {
    if (finished || permission !== 'granted') return;
    const source = new EventSource(`/api/events/${id}?after=${after}`);
    const notify = (e: MessageEvent<string>) => {
      if (e.type !== 'run.waiting') source.close();
      if (document.visibilityState !== 'hidden') return;
      const message = MESSAGES[e.type];
      const n = new Notification(message.title, { body: message.body(title), tag: `${id}:${e.type}` });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    };
    for (const type of Object.keys(MESSAGES)) source.addEventListener(type, notify as EventListener);
    return () => source.close();
  }, [id, title, after, finished, permission]);

  if (finished || permission === 'unsupported' || permission === 'denied') return null;
  if (permission === 'granted') {
    return (
      <p className="notice" data-testid="notifications-on">
        You will get a notification when this story is ready or needs you, if this tab is in the background.
      </p>
    );
  }
  return (
    <button
      type="button"
      data-testid="notify-me"
      onClick={async () => setPermission(await Notification.requestPermission())}
    >
      Notify me when it is ready
    </button>
  );
}
