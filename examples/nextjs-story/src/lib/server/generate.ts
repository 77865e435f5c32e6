// The one seam for text generation. Every piece of text the story workflow
// writes goes through generate(): the engine's built-in llm step, on the
// engine's default provider (llm-config.ts) — a language model when a key is
// set, else the offline provider (offline text, not a language model). The
// step is memoized (a replay returns the stored text without asking again)
// and its text streams as chunk events of the stream named after the step.
import type { Context, LlmResult } from 'storyloom';
import type { Prompt } from './prompts';

/** The answer to `prompt` as the llm step `stepName`, streamed on the chunk stream `stepName`. */
export async function generate(ctx: Context, stepName: string, prompt: Prompt): Promise<LlmResult> {
  return ctx.llm(stepName, {
    messages: [
      { role: 'system', content: prompt.system },
      { role: 'user', content: prompt.user },
    ],
    maxTokens: prompt.maxTokens,
    streamName: stepName,
    ...(prompt.jsonSchema ? { jsonSchema: prompt.jsonSchema } : {}),
  });
}
