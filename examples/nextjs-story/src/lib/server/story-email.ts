// "Your story is ready" by email, when the server is configured for it:
// SMTP_URL and SMTP_FROM (and SMTP_USERNAME / SMTP_PASSWORD if the server
// asks), STORY_EMAIL_TO (who gets it) and STORY_PUBLIC_URL (the base of the
// link back to the story, e.g. https://stories.example.com). Sent by a step
// of the story workflow, so it is sent once per story and retried on an SMTP
// 4xx or a network error, not on a 5xx.
import type { Context } from 'storyloom';
import { emailConfigured, sendEmail } from './storyloom';

export async function emailStoryReady(ctx: Context, title: string): Promise<void> {
  const to = process.env.STORY_EMAIL_TO;
  if (!emailConfigured() || !to) return;
  const base = (process.env.STORY_PUBLIC_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
  const link = `${base}/story/${ctx.runId}`;
  await ctx.step('email/ready', async () => {
    const result = await sendEmail(
      {
        to,
        subject: `Your story is ready: ${title}`,
        text: `Your story "${title}" is written.`,
        html: `<p>Your story <strong>${escapeHtml(title)}</strong> is written.</p>`,
        link,
      },
      `${ctx.runId}.ready@storyloom`,
    );
    return { to, messageId: result.messageId };
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
