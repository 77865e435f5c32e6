// The engine's LLM providers: the environment's (OPENAI_API_KEY,
// ANTHROPIC_API_KEY, OPENROUTER_API_KEY, ..., read by the engine itself) and
// the offline provider, which the engine uses when no key is set. Only the
// offline provider is configured here, for its word delay; the UI asks the
// engine which one writes (defaultWriter) to say whether it is a language model.
import type { Engine, LlmOptions } from 'storyloom';
import { OFFLINE_PROVIDER, writerOf, type Writer } from '../story';

/** Milliseconds between streamed words of the offline provider (STORY_WORD_DELAY_MS, default 30; 0 streams at once). */
export function wordDelayMs(): number {
  const raw = process.env.STORY_WORD_DELAY_MS;
  const n = raw === undefined || raw === '' ? 30 : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : 30;
}

export function llmOptions(): LlmOptions {
  return {
    useEnvironment: true,
    // Replaces the environment's offline provider (same name). A configured
    // provider needs a model, even the offline one, which ignores it.
    providers: [{ name: OFFLINE_PROVIDER, kind: 'offline', model: 'offline-placeholder', offlineWordDelayMs: wordDelayMs() }],
  };
}

/** Who writes new text: the engine's default provider ("offline" when no key is set). */
export async function defaultWriter(engine: Engine): Promise<Writer> {
  const { default: name, providers } = await engine.llmProviders();
  return writerOf(name, providers.find((p) => p.name === name)?.model ?? '');
}
