// Email over SMTP (the engine's libcurl sender, through the C ABI): for steps
// that tell a reader "your story is ready".
import { callAsync } from './errors';
import { native } from './native';

/** Each field optional: missing ones come from SMTP_URL, SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD, SMTP_REQUIRE_STARTTLS. */
export interface SmtpOptions {
  /** smtp://host:port (STARTTLS when offered) or smtps://host:port. */
  url?: string;
  from?: string;
  username?: string;
  password?: string;
  /** smtp:// only: fail unless the server upgrades to TLS. */
  requireStarttls?: boolean;
  timeoutMs?: number;
}

export interface EmailMessage {
  to: string | string[];
  subject: string;
  /** The plain-text part. */
  text: string;
  /** The HTML part; with it the message is multipart/alternative. */
  html?: string;
  /** Appended to both parts ("Open your story: <link>"). */
  link?: string;
}

export interface EmailResult {
  accepted: true;
  smtpStatus: number;
  messageId: string;
}

/** Whether SMTP_URL and SMTP_FROM are set, i.e. sendEmail can work without options. */
export function emailConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.SMTP_URL && env.SMTP_FROM);
}

/**
 * Sends one message. Rejects with a StoryloomError: class 'retryable' for an
 * SMTP 4xx or a network error (so a step retries it), 'fatal' for a 5xx or
 * refused credentials. Call it inside ctx.step with a stable `messageId`
 * (e.g. `${ctx.runId}.ready@your.domain`) so a retry is recognisable.
 */
export async function sendEmail(message: EmailMessage, messageId: string, options: SmtpOptions = {}): Promise<EmailResult> {
  const config = JSON.stringify({
    url: options.url,
    from: options.from,
    username: options.username,
    password: options.password,
    require_starttls: options.requireStarttls,
    timeout_ms: options.timeoutMs,
  });
  const json = JSON.stringify({ to: message.to, subject: message.subject, text: message.text, html: message.html, link: message.link });
  const r = JSON.parse(await callAsync(() => native().sendEmail(config, json, messageId)));
  return { accepted: true, smtpStatus: r.smtp_status, messageId: r.message_id };
}
