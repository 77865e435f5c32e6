// The one seam for text generation. Every piece of text the story workflow
// writes goes through generate(): today a memoized host step running the
// offline generator (offline text, not a language model), streamed word by
// word with ctx.chunk on a stream named after the step. The engine's built-in
// `ctx.llm` step will replace the body of this function, and nothing else.
import type { Context } from 'storyloom';
import { offlineText } from './offline-text';

/** Milliseconds between streamed words (STORY_WORD_DELAY_MS, default 30; 0 streams at once). */
export function wordDelayMs(): number {
  const raw = process.env.STORY_WORD_DELAY_MS;
  const n = raw === undefined || raw === '' ? 30 : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : 30;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Generates the text for `prompt` as the step `stepName` (run once per run;
 * replays return the stored text) and streams it on the chunk stream
 * `stepName`, so the concatenated chunks equal the returned text.
 */
export async function generate(ctx: Context, stepName: string, prompt: string): Promise<string> {
  return ctx.step(stepName, async ({ signal }) => {
    const text = offlineText(stepName, prompt);
    const delay = wordDelayMs();
    for (const word of text.split(/(?<=\s)/)) {
      signal.throwIfAborted();
      ctx.chunk(stepName, word);
      if (delay > 0) await pause(delay, signal);
    }
    return text;
  });
}
